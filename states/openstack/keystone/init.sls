include:
  - .package
  - .config
  - .keys
  - .db
  - .service
  - .bootstrap
  - .catalog

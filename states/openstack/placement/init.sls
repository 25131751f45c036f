include:
  - .package
  - .config
  - .db
  - .service

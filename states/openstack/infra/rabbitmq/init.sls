include:
  - .package
  - .config
  - .service
  - .user

include:
  - .package
  - .config
  - .service
  - .databases

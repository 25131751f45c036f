include:
  - .mariadb
  - .rabbitmq
  - .memcached

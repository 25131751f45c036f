include:
  - .memcached.clean
  - .rabbitmq.clean
  - .mariadb.clean

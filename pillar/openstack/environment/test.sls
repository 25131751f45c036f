# The test environment: services log at debug level.
openstack:
  debug: true

# Production: no debug logging.
openstack:
  debug: false
  region: RegionOne

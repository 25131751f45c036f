# Staging: as production, in a region of its own.
openstack:
  debug: false
  region: StagingOne

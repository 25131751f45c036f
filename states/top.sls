{#- Role-based top file: nodes carry a "roles" grain (controller, network,
    compute); openstack.roles maps roles to stages (openstack/stages.yaml). #}
base:
  'roles:*':
    - match: grain
    - openstack.roles

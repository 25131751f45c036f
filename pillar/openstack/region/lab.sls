# The lab's default region, lab/region-minimal.yml: ctl01 (controller),
# net01 (network), cmp01 and cmp02 (compute) on the networks mgmt, tenant and
# provider; inside a lab node each network's interface bears its name.
openstack:
  controller:
    address: 10.231.10.11
  nodes:
    ctl01:
      management_address: 10.231.10.11
      overlay_address: 10.231.20.11
      provider_interface: provider
    net01:
      management_address: 10.231.10.21
      overlay_address: 10.231.20.21
      provider_interface: provider
    cmp01:
      management_address: 10.231.10.31
      overlay_address: 10.231.20.31
      provider_interface: provider
    cmp02:
      management_address: 10.231.10.32
      overlay_address: 10.231.20.32
      provider_interface: provider
  # The lab's kernel has no openvswitch module: where Neutron runs on Open
  # vSwitch (Debian 13), its bridges use the userspace datapath.
  openvswitch:
    datapath_type: netdev
  # Lab nodes are containers, where the host's cgroup controllers are read-only:
  # libvirt must not give each QEMU guest cgroups of its own, or no server boots.
  nova_compute:
    settings:
      /etc/libvirt/qemu.conf:
        cgroup_controllers: '[ ]'

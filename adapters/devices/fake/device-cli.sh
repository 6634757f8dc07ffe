#!/bin/sh
# The command line of a Cisco IOS XE device, run per SSH exec request (sshd: authorized_keys command="…";
# the fake SSH server, src/fake-device.ts: directly):
# answers the exec-channel command in $SSH_ORIGINAL_COMMAND the way IOS does. $1 is the hostname.
# Test-only commands: "show tech-support" prints ~2 MB (output limits), "show slow" never ends (time limits).
host="${1:-router}"
cmd="$(printf '%s' "$SSH_ORIGINAL_COMMAND" | tr -s ' ')"
case "$cmd" in
  "show version"|"show ver")
    cat <<OUT
Cisco IOS XE Software, Version 17.09.04a
Cisco IOS Software [Cupertino], Catalyst L3 Switch Software (CAT9K_IOSXE), Version 17.9.4a, RELEASE SOFTWARE (fc3)
Technical Support: http://www.cisco.com/techsupport
Copyright (c) 1986-2023 by Cisco Systems, Inc.

ROM: IOS-XE ROMMON
${host} uptime is 12 weeks, 3 days, 4 hours, 7 minutes
System image file is "flash:packages.conf"

cisco C9300-24T (X86) processor with 1419044K/6147K bytes of memory.
Processor board ID FOC2231X0AB
24 Gigabit Ethernet interfaces
Configuration register is 0x102
OUT
    ;;
  "show ip interface brief")
    cat <<OUT
Interface              IP-Address      OK? Method Status                Protocol
Vlan1                  unassigned      YES NVRAM  administratively down down
GigabitEthernet0/0     192.0.2.10      YES NVRAM  up                    up
GigabitEthernet1/0/1   198.51.100.1    YES manual up                    up
GigabitEthernet1/0/2   unassigned      YES unset  down                  down
OUT
    ;;
  "show clock")
    echo "*12:00:00.000 UTC Tue Dec 8 2026"
    ;;
  "show tech-support")
    i=0
    while [ $i -lt 40000 ]; do
      echo "------------------ show tech-support line $i of ${host} -------------------"
      i=$((i + 1))
    done
    ;;
  "show slow")
    echo "Building configuration..."
    while :; do sleep 1; done
    ;;
  ping\ *)
    target="${cmd#ping }"
    cat <<OUT
Type escape sequence to abort.
Sending 5, 100-byte ICMP Echos to ${target}, timeout is 2 seconds:
!!!!!
Success rate is 100 percent (5/5), round-trip min/avg/max = 1/1/2 ms
OUT
    ;;
  traceroute\ *)
    target="${cmd#traceroute }"
    cat <<OUT
Type escape sequence to abort.
Tracing the route to ${target}
VRF info: (vrf in name/id, vrf out name/id)
  1 192.0.2.1 1 msec 1 msec 1 msec
  2 ${target} 2 msec *  2 msec
OUT
    ;;
  "")
    echo "% Interactive sessions are not supported on this test device"
    exit 1
    ;;
  *)
    printf '%s\n' "$cmd"
    printf '%s\n' "^"
    echo "% Invalid input detected at '^' marker."
    exit 1
    ;;
esac

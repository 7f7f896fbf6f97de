# SPDX-License-Identifier: GPL-3.0-or-later
"""How the control node's rsync reaches a host over SSH: the options clix_pull and clix_push share
(the role fills the connection's from the host's inventory, as Ansible's own connection does)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  host:
    description: Address of the school server or lab PC.
    type: str
    required: true
  port:
    description: SSH port.
    type: int
    default: 22
  user:
    description:
      - SSH user. A pull needs one that reads the sources without become; a push, root or one that may write the
        destinations and give their owners.
    type: str
  private_key:
    description: SSH private key file.
    type: path
  ssh_args:
    description: Extra ssh options (for example the inventory's ansible_ssh_common_args).
    type: str
    default: ""
  connection:
    description:
      - The host's Ansible connection (its C(ansible_connection)). C(ssh) (and C(smart), C(paramiko)) run rsync over
        ssh; C(local) works on this machine's own files, without ssh. Any other connection is refused with a clear
        message, before anything is read or written.
    type: str
    default: ssh
  connect_timeout:
    description: Seconds to wait for the SSH connection.
    type: int
    default: 20
  bwlimit:
    description: Bandwidth limit in KiB/s for slow school links (0 = none).
    type: int
    default: 0
  rsync_path:
    description: rsync on the control node.
    type: str
    default: rsync
"""

"""Runs a command under the seccomp filters a systemd unit would put on it; run by Debian's
/usr/bin/python3.

    /usr/bin/python3 visord/testing/unit_sandbox.py SPEC.json COMMAND [ARG...]

SPEC names what `visord/testing/systemd_unit.py` read from the unit: `syscalls` (SystemCallFilter=,
groups expanded by `systemd-analyze syscall-filter`), `errno` (SystemCallErrorNumber=), `families`
(RestrictAddressFamilies=, as numbers) and `deny_write_execute` (MemoryDenyWriteExecute=). The
filters are the ones systemd 252 installs for these settings (src/shared/seccomp-util.c): an allow
list that answers anything else with `errno`; socket() with another family fails with EAFNOSUPPORT;
mmap() of memory both writable and executable, mprotect() adding PROT_EXEC and shmat(SHM_EXEC) fail
with EPERM. NoNewPrivileges= comes with loading a filter. It needs python3-seccomp (libseccomp's own
binding), which only Debian's interpreter has: the project's venv does not.
"""

import errno
import json
import mmap
import os
import sys

import seccomp

AF_MAX = 46  # linux/socket.h
SHM_EXEC = 0o100000


def allow_list(syscalls: list[str], error: int) -> seccomp.SyscallFilter:
    syscall_filter = seccomp.SyscallFilter(defaction=seccomp.ERRNO(error))
    for name in syscalls:
        try:
            syscall_filter.add_rule(seccomp.ALLOW, name)
        # a name this architecture does not have (systemd skips those too)
        except (RuntimeError, ValueError):
            pass
    return syscall_filter


def restrictions(families: list[int] | None, deny_write_execute: bool) -> seccomp.SyscallFilter:
    syscall_filter = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    if families is not None:
        refuse = seccomp.ERRNO(errno.EAFNOSUPPORT)
        for family in set(range(AF_MAX)) - set(families):
            syscall_filter.add_rule(refuse, "socket", seccomp.Arg(0, seccomp.EQ, family))
        syscall_filter.add_rule(refuse, "socket", seccomp.Arg(0, seccomp.GE, AF_MAX))
    if deny_write_execute:
        refuse = seccomp.ERRNO(errno.EPERM)
        exec_write = mmap.PROT_EXEC | mmap.PROT_WRITE
        syscall_filter.add_rule(
            refuse, "mmap", seccomp.Arg(2, seccomp.MASKED_EQ, exec_write, exec_write)
        )
        for name in ("mprotect", "pkey_mprotect"):
            syscall_filter.add_rule(
                refuse, name, seccomp.Arg(2, seccomp.MASKED_EQ, mmap.PROT_EXEC, mmap.PROT_EXEC)
            )
        syscall_filter.add_rule(
            refuse, "shmat", seccomp.Arg(2, seccomp.MASKED_EQ, SHM_EXEC, SHM_EXEC)
        )
    return syscall_filter


def main() -> None:
    with open(sys.argv[1]) as file:
        spec = json.load(file)
    command = sys.argv[2:]
    restrictions(spec.get("families"), spec.get("deny_write_execute", False)).load()
    allow_list(spec["syscalls"], spec.get("errno", errno.EPERM)).load()
    os.execv(command[0], command)


if __name__ == "__main__":
    main()

"""releasetrain.lab.guest without a region: the image it builds, and how it reads what OpenStack says.

The boot itself runs on the lab's region (tests/integration/formula/test_region.py and the
demo's region test); here the commands run in a real local bash.
"""

import struct
import subprocess

import pytest

from releasetrain.lab import guest

MOV_SI = 0xBE  # mov si, imm16: where the code reads the message from
BOOT_ADDRESS = 0x7C00  # where the BIOS loads the boot sector


def local_bash(script, timeout):
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=False, timeout=timeout)


def test_boot_sector_is_a_bootable_mebibyte_whose_code_points_at_the_message():
    image = guest.boot_sector(guest.GUEST_SAYS)
    assert len(image) == 1 << 20
    assert image[510:512] == b"\x55\xaa"
    operand = image.index(bytes([MOV_SI])) + 1
    message_at = int.from_bytes(image[operand:operand + 2], "little") - BOOT_ADDRESS
    assert image[message_at:].startswith(guest.GUEST_SAYS + b"\r\n\0")
    assert image[512:] == bytes(len(image) - 512)


def test_the_boot_sector_defines_one_partition_as_novas_image_safety_check_wants():
    """oslo.utils' format inspector (Nova 2024.1 and later) reads 0x55AA at 510 as an MBR and fails
    its safety check unless some entry has a type, and every boot flag is 0x00 or 0x80."""
    image = guest.boot_sector(guest.GUEST_SAYS)
    entries = [struct.unpack("<B3BB3BII", image[446 + 16 * i:462 + 16 * i]) for i in range(4)]
    assert [entry[0] for entry in entries] == [0x80, 0, 0, 0]  # boot flags
    assert [entry[4] for entry in entries] == [0x83, 0, 0, 0]  # partition types: one Linux partition
    assert entries[0][8:] == (1, (1 << 20) // 512 - 1)  # from LBA 1 to the image's end
    assert guest.GUEST_SAYS in image[:446]


def test_a_message_longer_than_a_boot_sector_holds_is_refused():
    with pytest.raises(ValueError, match="at most 420 fit"):
        guest.boot_sector(b"x" * 421)
    assert guest.boot_sector(b"x" * 420)[510:512] == b"\x55\xaa"


def test_the_image_script_writes_the_same_bytes_in_bash(tmp_path):
    path = tmp_path / "boot image.img"
    result = local_bash(guest.write_image_script(str(path), b"hello from COM1"), 30)
    assert result.returncode == 0, result.stderr
    assert path.read_bytes() == guest.boot_sector(b"hello from COM1")


def test_the_image_name_follows_its_content():
    assert guest.image_name(guest.GUEST_SAYS) == guest.image_name(guest.GUEST_SAYS)
    assert guest.image_name(guest.GUEST_SAYS) != guest.image_name(b"another line")
    assert guest.image_name(guest.GUEST_SAYS).startswith("releasetrain-boot-")


def test_a_failed_command_is_one_line_naming_it_with_its_last_error():
    cloud = guest.Controller(local_bash)
    with pytest.raises(guest.GuestBootError) as raised:
        cloud.shell("echo starting; echo 'No image with a name of x' >&2; exit 3", "'openstack image show x'")
    assert str(raised.value) == "'openstack image show x' failed on the controller (exit 3): No image with a name of x"
    assert cloud.shell("echo fine", "echo") == "fine\n"


def test_server_state_waits_on_build_and_names_the_fault_of_an_error():
    assert guest.server_state({"status": "ACTIVE"}) is True
    assert guest.server_state({"status": "BUILD"}) is False
    error = {"status": "ERROR", "OS-EXT-SRV-ATTR:host": "cmp01",
             "fault": {"code": 500, "message": "Build of instance 1f was re-scheduled: Read-only file system"}}
    with pytest.raises(guest.GuestBootError) as raised:
        guest.server_state(error)
    assert str(raised.value) == (f"server {guest.SERVER} went to ERROR on cmp01: "
                                 "Build of instance 1f was re-scheduled: Read-only file system")
    with pytest.raises(guest.GuestBootError, match="went to ERROR on no host: no fault recorded"):
        guest.server_state({"status": "ERROR"})
    with pytest.raises(guest.GuestBootError, match="is SHUTOFF, not ACTIVE"):
        guest.server_state({"status": "SHUTOFF"})


def test_console_line_finds_the_guest_line_among_the_firmware_output():
    console = "SeaBIOS (version 1.16.2)\r\nBooting from Hard Disk...\r\nreleasetrain guest booted\r\n"
    assert guest.console_line(console, guest.GUEST_SAYS) == "releasetrain guest booted"
    assert guest.console_line("SeaBIOS (version 1.16.2)\nBooting from Hard Disk...\n", guest.GUEST_SAYS) is None


def test_waiting_gives_up_with_one_line_naming_what_did_not_happen(monkeypatch):
    monkeypatch.setattr(guest, "POLL_INTERVAL", 0.01)
    polls = []
    with pytest.raises(guest.GuestBootError, match=r"^server x did not become ACTIVE within 0.05 s$"):
        guest.wait_for("server x did not become ACTIVE", lambda: polls.append(1), 0.05)
    assert len(polls) > 1
    assert guest.wait_for("never shown", lambda: "found", 0) == "found"

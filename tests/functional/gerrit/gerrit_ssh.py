"""A loopback SSH server that plays ``gerrit stream-events`` from recorded lines (paramiko)."""

import socket
import threading
import time

import paramiko

USER = "releasetrain"


class _Interface(paramiko.ServerInterface):
    def __init__(self, client_key):
        self.client_key = client_key
        self.command = None
        self.ready = threading.Event()

    def get_allowed_auths(self, username):
        return "publickey"

    def check_auth_publickey(self, username, key):
        ok = username == USER and key.get_base64() == self.client_key.get_base64()
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def check_channel_request(self, kind, chanid):
        return paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel, command):
        self.command = command
        self.ready.set()
        return True


class GerritSSH:
    """Connection ``n`` sends ``sessions[n]`` (lines) and then drops, except the last, which stays open."""

    def __init__(self, sessions, workdir):
        self.sessions = sessions
        self.commands = []
        self.host_key = paramiko.RSAKey.generate(1024)
        self.client_key = paramiko.RSAKey.generate(1024)
        self.key_path = str(workdir / "client_key")
        self.client_key.write_private_key_file(self.key_path)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.port = self.sock.getsockname()[1]
        self.known_hosts = str(workdir / "known_hosts")
        with open(self.known_hosts, "w", encoding="utf-8") as handle:
            handle.write(f"[127.0.0.1]:{self.port} {self.host_key.get_name()} {self.host_key.get_base64()}\n")
        self.stop = threading.Event()
        self.gate = threading.Event()  # sessions send nothing until it is set (tests clear it to wait for listeners)
        self.gate.set()
        self.transports = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def settings(self, **extra):
        return {"host": "127.0.0.1", "port": self.port, "user": USER, "key": self.key_path,
                "known_hosts": self.known_hosts, "backoff_min": 0.2, "backoff_max": 1, **extra}

    def _serve(self):
        index = 0
        try:
            self.sock.settimeout(0.5)
        except OSError:
            return  # closed before this thread got going
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            lines = self.sessions[min(index, len(self.sessions) - 1)] if index < len(self.sessions) else []
            last = index >= len(self.sessions) - 1
            index += 1
            threading.Thread(target=self._session, args=(conn, lines, last), daemon=True).start()

    def _session(self, conn, lines, last):
        transport = paramiko.Transport(conn)
        self.transports.append(transport)
        transport.add_server_key(self.host_key)
        interface = _Interface(self.client_key)
        try:
            transport.start_server(server=interface)
            channel = transport.accept(10)
            if channel is None or not interface.ready.wait(10):
                return
            self.commands.append(interface.command)
            self.gate.wait(30)
            for line in lines:
                channel.sendall(line.encode() + b"\n")
            if not last:
                # a dropped connection still delivers what was sent before it: EOF, then wait (briefly)
                # for the reader to hang up; closing at once could discard lines not yet read
                channel.shutdown_write()
            deadline = time.monotonic() + (3600 if last else 5)
            while not self.stop.is_set() and transport.is_active() and not channel.closed \
                    and time.monotonic() < deadline:
                time.sleep(0.05)
            channel.close()
        except Exception:  # pylint: disable=broad-except
            pass
        finally:
            transport.close()

    def close(self):
        self.stop.set()
        self.sock.close()
        for transport in self.transports:
            transport.close()

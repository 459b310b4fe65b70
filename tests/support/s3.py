"""S3 for tests: moto in server mode on a loopback port, reached over real HTTP by boto3."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from moto.server import ThreadedMotoServer


@dataclass
class MotoServer:
    endpoint: str

    def env(self) -> dict[str, str]:
        """The standard AWS variables a user would set for an S3-compatible store."""
        return {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ENDPOINT_URL_S3": self.endpoint,
        }


def moto_server() -> Iterator[MotoServer]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield MotoServer(endpoint=f"http://{host}:{port}")
    finally:
        server.stop()

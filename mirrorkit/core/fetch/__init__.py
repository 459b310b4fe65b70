"""Bytes into staging: the downloader over the transport, staging, early commits."""

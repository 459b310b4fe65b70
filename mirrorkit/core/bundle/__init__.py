"""Split-part bundles: a snapshot (or what changed since a base) as a tar stream cut into
numbered, checksummed parts plus a TOC, in a directory or under an S3 prefix, and its import
into a mirror in the one commit order. See docs/bundles.md.

Nothing is imported here: the machinery (tar streams, TOC parsing, boto3 for S3 targets) is
loaded by the command or sink that uses it, not by every ``mirrorkit`` invocation.
"""

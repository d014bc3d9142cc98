"""Content-addressed artifact storage: blob stores (blobstore) and file manifests (manifest).

Import the submodules directly; this package re-exports nothing so that the SDK, which
needs only `manifest`, does not pay for importing fsspec.
"""

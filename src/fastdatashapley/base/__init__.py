"""Base (layer 0): the registry and plugin loader, atomic checksummed files, argument and input checks, the device
resolver and the chunked predictor. Nothing here imports another layer of the package."""

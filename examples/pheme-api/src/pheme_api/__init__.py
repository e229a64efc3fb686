"""pheme-api: a tiny HTTP service used to demonstrate Pheme (CI now, deploys later)."""

__version__ = "1.0.0"

"""The web app: pages people use in a browser (upload, results, library, batches, usage)."""

"""Completion webhooks: endpoints a workspace registers, events recorded when its jobs finish,
and their signed delivery (with retries) to the workspace's own server."""

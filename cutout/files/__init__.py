"""Files: where stored objects live, how they leave (signed URLs), how long they stay, and
fetching images from URLs that callers give us."""

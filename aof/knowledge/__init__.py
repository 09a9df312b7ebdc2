"""Company memory: sources, documents and facts as files, and a full-text index over them."""

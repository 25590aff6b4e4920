"""The index on disk: the manifest, the local FAISS + BM25 folder, its documents and file checks."""

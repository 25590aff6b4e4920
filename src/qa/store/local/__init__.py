"""The local store: an index folder (FAISS + BM25 files), its build and its layout on disk."""

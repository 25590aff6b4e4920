"""The Qdrant store: a qa index as a Qdrant collection, its engines, layout and sync."""

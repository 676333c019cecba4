"""Store-aware alignment tasks: align stored recordings, carry annotations to a store's recordings, passage search
refined by subsequence DTW, interpretation curves and style statistics written as a stored space.

The algorithms live in :mod:`embedstore.alignment`; this package finds recordings through the public
:class:`~embedstore.store.Store` API (``recording``, ``recordings``, ``load``, ``spaces``...) and calls them.
"""

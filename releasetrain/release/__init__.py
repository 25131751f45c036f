"""Package and publish: manifest -> mirrors -> deploy-kit -> the store's environments.

``manifest`` reads a manifest, ``mirror`` keeps each repo's git mirror,
``kit``/``deflate``/``links`` build the reproducible tarball, ``packaging``
runs them in order, ``store`` publishes, promotes and rolls back kits as
file_roots trees, and ``compare`` diffs two releases.
"""

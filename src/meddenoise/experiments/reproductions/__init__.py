"""The reproductions: one module or package each, registered with :func:`meddenoise.experiments.registry.register`.

Every module here is imported by :func:`meddenoise.experiments.registry.reproductions`; adding a
reproduction is adding a module here (plus its test and its section of ``docs/reproduce.md``).
"""

"""The thin ``meddenoise`` command line: argument parsing and printing only; work lives in the library."""

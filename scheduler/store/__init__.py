"""The store: tables, engines and every SQL statement Tocsin runs."""

"""Built in a later issue; the app exists so the project's layout is stable."""

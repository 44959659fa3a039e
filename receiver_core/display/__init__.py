"""Display output: compositor, backends, idle screen."""

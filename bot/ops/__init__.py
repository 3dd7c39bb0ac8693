"""Every process's entry module (action_server, web, notifier, statuspage_sync, status_page), and
the tools that start them: the launcher and its supervisor, the scaled-out launcher, the
command line, the terminal chat."""

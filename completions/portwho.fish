complete -c portwho -s p -l pid -d 'Sockets held by this process (repeatable)' -r
complete -c portwho -s c -l command -d 'Sockets held by processes with this name (repeatable)' -r
complete -c portwho -s U -l user -d 'Sockets held by this user, a name or a numeric uid (repeatable)' -r -f -a "(__fish_complete_users)"
complete -c portwho -l color -d 'When to use colour: auto, always or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c portwho -l fail-on -d 'With --audit, the lowest severity for exit status 3: low, medium or high' -r -f -a "low\t''
medium\t''
high\t''"
complete -c portwho -l diff -d 'Compare the listening sockets with a saved baseline; exit 1 when anything changed' -r -F
complete -c portwho -l signal -d 'The signal --kill sends (default TERM)' -r
complete -c portwho -l timeout -d 'How long --kill, --wait-listen and --wait-free wait, in seconds' -r
complete -c portwho -l free -d 'Print the first unused TCP port at or after PORT' -r
complete -c portwho -l count -d 'How many ports --free prints, one per line, ascending' -r
complete -c portwho -l generate -d 'Write a man page or a shell completion script to stdout and exit' -r -f -a "man\t''
complete-bash\t''
complete-zsh\t''
complete-fish\t''"
complete -c portwho -l proc-root -d 'Read sockets and processes from this proc tree instead of the live system (for captured trees; disables netlink)' -r -F
complete -c portwho -s l -l listening -d 'Listening sockets only (the default without TARGET)'
complete -c portwho -s a -l all -d 'Sockets in every state'
complete -c portwho -s t -l tcp -d 'TCP sockets only'
complete -c portwho -s u -l udp -d 'UDP sockets only'
complete -c portwho -s 4 -l ipv4 -d 'IPv4 sockets only'
complete -c portwho -s 6 -l ipv6 -d 'IPv6 sockets only'
complete -c portwho -s n -l numeric -d 'Show port numbers only, no service names'
complete -c portwho -l json -d 'Print a JSON array of sockets on stdout, and nothing else there'
complete -c portwho -s q -l quiet -d 'Print nothing; the exit status answers (0 matched, 1 nothing matched)'
complete -c portwho -l audit -d 'Audit what this host exposes; exit 3 on a finding at or above --fail-on'
complete -c portwho -s v -l verbose -d 'Also say on stderr what the scan read and skipped'
complete -c portwho -l kill -d 'Signal the processes listening on the selected ports, then wait until they are free'
complete -c portwho -s y -l yes -d 'Signal without asking; required when stdin is not a terminal'
complete -c portwho -l wait-listen -d 'Wait until something listens on TARGET, then print it (exit 1 after --timeout)'
complete -c portwho -l wait-free -d 'Wait until no socket but TIME_WAIT uses TARGET (exit 1 after --timeout)'
complete -c portwho -s h -l help -d 'Print help (see more with \'--help\')'
complete -c portwho -s V -l version -d 'Print version'

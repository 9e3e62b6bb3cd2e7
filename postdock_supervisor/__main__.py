from postdock_supervisor.cli import main

main()

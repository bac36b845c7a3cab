from koopsuz.cli import main

main()

from aof.cli import main

main()

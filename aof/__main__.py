from aof.launch import main

main()

from switch.cli import main

main()

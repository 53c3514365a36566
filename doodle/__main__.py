from doodle.cli import main

main()

from mirrorkit.cli import main

main()

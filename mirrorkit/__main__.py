from mirrorkit.launch import main

main()

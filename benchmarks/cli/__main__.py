from gdw_bench.cli import main

main()

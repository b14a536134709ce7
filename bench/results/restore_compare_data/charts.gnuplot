# Drawn by bench/restore_compare; run with gnuplot in this directory.
set terminal pngcairo size 1800,960 font 'sans,10'
set output '../restore_compare_time.png'
set multiplot layout 2,2 title 'Time from the start of the restore (median of 3 runs; log scale)'
set style data histogram
set style histogram cluster gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set ylabel 'milliseconds'
set format y '%g'
set xtics rotate by -25 noenhanced
set grid ytics
set key outside right top vertical noenhanced
set title 'synthetic image, warm' noenhanced
plot 'time_synthetic_warm.dat' using 2:xtic(1) title 'ready', '' using 3 title 'ready + ws:10', '' using 4 title 'ready + seq', '' using 5 title 'ready + random'
set title 'synthetic image, cold' noenhanced
plot 'time_synthetic_cold.dat' using 2:xtic(1) title 'ready', '' using 3 title 'ready + ws:10', '' using 4 title 'ready + seq', '' using 5 title 'ready + random'
set title 'python image, warm' noenhanced
plot 'time_python_warm.dat' using 2:xtic(1) title 'ready', '' using 3 title 'ready + ws:10', '' using 4 title 'ready + seq', '' using 5 title 'ready + random'
set title 'python image, cold' noenhanced
plot 'time_python_cold.dat' using 2:xtic(1) title 'ready', '' using 3 title 'ready + ws:10', '' using 4 title 'ready + seq', '' using 5 title 'ready + random'
unset multiplot
set output '../restore_compare_latency.png'
set multiplot layout 2,2 title 'Latency of touches that faulted, random pattern (CDF; median over runs of each quantile)'
set style data lines
set logscale x
unset logscale y
set xlabel 'touch latency (µs)'
set ylabel 'fraction of faulted touches'
set format x '%g'
set format y '%g'
set yrange [0:1]
set xtics norotate
set grid xtics ytics
set key outside right top vertical noenhanced
set title 'synthetic image, warm' noenhanced
plot 'cdf_synthetic_warm_random.dat' index 0 using 1:2 with lines linewidth 2 title 'eager', 'cdf_synthetic_warm_random.dat' index 1 using 1:2 with lines linewidth 2 title 'mmap', 'cdf_synthetic_warm_random.dat' index 2 using 1:2 with lines linewidth 2 title 'uffd-4k', 'cdf_synthetic_warm_random.dat' index 3 using 1:2 with lines linewidth 2 title 'lazysnap-32k', 'cdf_synthetic_warm_random.dat' index 4 using 1:2 with lines linewidth 2 title 'lazysnap-64k', 'cdf_synthetic_warm_random.dat' index 5 using 1:2 with lines linewidth 2 title 'lazysnap-16k', 'cdf_synthetic_warm_random.dat' index 6 using 1:2 with lines linewidth 2 title 'lazysnap-sigbus-32k'
set title 'synthetic image, cold' noenhanced
plot 'cdf_synthetic_cold_random.dat' index 0 using 1:2 with lines linewidth 2 title 'eager', 'cdf_synthetic_cold_random.dat' index 1 using 1:2 with lines linewidth 2 title 'mmap', 'cdf_synthetic_cold_random.dat' index 2 using 1:2 with lines linewidth 2 title 'uffd-4k', 'cdf_synthetic_cold_random.dat' index 3 using 1:2 with lines linewidth 2 title 'lazysnap-32k', 'cdf_synthetic_cold_random.dat' index 4 using 1:2 with lines linewidth 2 title 'lazysnap-64k', 'cdf_synthetic_cold_random.dat' index 5 using 1:2 with lines linewidth 2 title 'lazysnap-16k', 'cdf_synthetic_cold_random.dat' index 6 using 1:2 with lines linewidth 2 title 'lazysnap-sigbus-32k'
set title 'python image, warm' noenhanced
plot 'cdf_python_warm_random.dat' index 0 using 1:2 with lines linewidth 2 title 'eager', 'cdf_python_warm_random.dat' index 1 using 1:2 with lines linewidth 2 title 'mmap', 'cdf_python_warm_random.dat' index 2 using 1:2 with lines linewidth 2 title 'uffd-4k', 'cdf_python_warm_random.dat' index 3 using 1:2 with lines linewidth 2 title 'lazysnap-32k', 'cdf_python_warm_random.dat' index 4 using 1:2 with lines linewidth 2 title 'lazysnap-64k', 'cdf_python_warm_random.dat' index 5 using 1:2 with lines linewidth 2 title 'lazysnap-16k', 'cdf_python_warm_random.dat' index 6 using 1:2 with lines linewidth 2 title 'lazysnap-sigbus-32k'
set title 'python image, cold' noenhanced
plot 'cdf_python_cold_random.dat' index 0 using 1:2 with lines linewidth 2 title 'eager', 'cdf_python_cold_random.dat' index 1 using 1:2 with lines linewidth 2 title 'mmap', 'cdf_python_cold_random.dat' index 2 using 1:2 with lines linewidth 2 title 'uffd-4k', 'cdf_python_cold_random.dat' index 3 using 1:2 with lines linewidth 2 title 'lazysnap-32k', 'cdf_python_cold_random.dat' index 4 using 1:2 with lines linewidth 2 title 'lazysnap-64k', 'cdf_python_cold_random.dat' index 5 using 1:2 with lines linewidth 2 title 'lazysnap-16k', 'cdf_python_cold_random.dat' index 6 using 1:2 with lines linewidth 2 title 'lazysnap-sigbus-32k'
unset multiplot

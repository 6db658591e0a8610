#!/usr/bin/perl
# cpu_sampler.pl: prints, every INTERVAL seconds until killed, one line
#   <unix time, s.frac> <ticks of PID1> <ticks of PID2> ...
# where a PID's ticks are its utime+stime (all threads) plus, when the PID is written
# "tree:PID", the utime+stime of its live children and the cutime+cstime of those it reaped
# (PostgreSQL: the postmaster, its helpers and backends). A process that is gone reads 0.
# Used by bench/anchor_node.sh to take CPU over a window known only afterwards (autocannon's
# start and finish). Usage: cpu_sampler.pl INTERVAL PID|tree:PID ...
use strict;
use warnings;
use Time::HiRes qw(time sleep);

my ($interval, @pids) = @ARGV;
die "usage: $0 INTERVAL PID|tree:PID ...\n" unless $interval && @pids;
$| = 1;

sub fields {    # the fields after "(comm) ", or () when gone
	my ($pid) = @_;
	open(my $f, '<', "/proc/$pid/stat") or return ();
	my $s = <$f>;
	close $f;
	return () unless defined $s && $s =~ /\)\s(.*)$/;
	return split(/\s+/, $1);
}

sub ticks {
	my ($spec) = @_;
	my $tree = $spec =~ s/^tree://;
	my @f = fields($spec);
	return 0 unless @f;
	my $t = $f[11] + $f[12];
	return $t unless $tree;
	$t += $f[13] + $f[14];
	opendir(my $d, '/proc') or return $t;
	for my $p (grep { /^\d+$/ } readdir $d) {
		my @c = fields($p);
		$t += $c[11] + $c[12] if @c && $c[1] == $spec;
	}
	closedir $d;
	return $t;
}

while (1) {
	my $now = time;
	print join(' ', sprintf('%.3f', $now), map { ticks($_) } @pids), "\n";
	sleep $interval;
}

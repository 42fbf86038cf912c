#!/usr/bin/perl
# find-secret.pl HEX[,HEX...] PATH...
#
# Search every regular file under each PATH for each secret given in hex, in
# the forms a key could leak in: the raw bytes, hex in lower and upper case,
# and base64 (all three alignments of the secret in a longer base64 stream).
# Prints "FOUND <form> <secret-prefix> <file>" per hit and "searched N files,
# M bytes" at the end.  Exit status: 0 nothing found, 1 found, 2 usage/IO.
# Only perl-base is needed (no modules beyond what perl-base ships).
use strict;
use warnings;

@ARGV >= 2 or die "usage: $0 HEX[,HEX...] PATH...\n";
my @secrets = map { pack('H*', $_) } grep { length } split /,/, shift @ARGV;
@secrets or die "$0: no secret given\n";
for (@secrets) { length($_) >= 8 or die "$0: a secret shorter than 8 bytes would match by chance\n"; }

my $b64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
sub base64 {
	my ($s) = @_;
	my $out = '';
	for (my $i = 0; $i + 3 <= length($s); $i += 3) {
		my $n = unpack('N', "\0" . substr($s, $i, 3));
		$out .= join '', map { substr($b64, ($n >> (18 - 6 * $_)) & 63, 1) } 0 .. 3;
	}
	return $out;	# whole groups only
}

# the forms of one secret; base64 at each of the three byte offsets
my @needles;
for my $s (@secrets) {
	my $tag = unpack('H8', $s);
	push @needles, [ 'raw', $tag, $s ],
	    [ 'hex', $tag, unpack('H*', $s) ],
	    [ 'HEX', $tag, uc unpack('H*', $s) ];
	for my $off (0 .. 2) {
		my $b = base64(substr($s, $off));
		# whole groups inside the secret encode the same in any stream
		# whose groups start $off bytes into it
		push @needles, [ "base64+$off", $tag, $b ] if length($b) >= 12;
	}
}

my ($files, $bytes, $found) = (0, 0, 0);
sub scan {
	my ($path) = @_;
	if (-l $path) { return; }
	if (-d $path) {
		opendir(my $dh, $path) or do { warn "$0: $path: $!\n"; exit 2; };
		my @e = grep { $_ ne '.' && $_ ne '..' } readdir $dh;
		closedir $dh;
		scan("$path/$_") for sort @e;
		return;
	}
	return unless -f $path;
	open(my $fh, '<:raw', $path) or do { warn "$0: $path: $!\n"; exit 2; };
	local $/;
	my $data = <$fh> // '';
	close $fh;
	$files++;
	$bytes += length $data;
	for my $n (@needles) {
		if (index($data, $n->[2]) >= 0) {
			print "FOUND $n->[0] $n->[1] $path\n";
			$found++;
		}
	}
}
scan($_) for @ARGV;
print "searched $files files, $bytes bytes\n";
exit($found ? 1 : 0);

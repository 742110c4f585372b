<?php
require getenv("COMPOSER_SEMVER_AUTOLOAD") ?: "/usr/share/php/Composer/Semver/autoload.php";
$p = new Composer\Semver\VersionParser();
while (($line = fgets(STDIN)) !== false) {
    $v = rtrim($line, "\n");
    try { $n = $p->normalize($v); echo $v, "\t", $n, "\n"; }
    catch (Exception $e) { echo $v, "\t", "!invalid", "\n"; }
}

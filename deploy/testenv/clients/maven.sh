#!/usr/bin/env bash
# Installs what the Maven end-to-end tests (edge/maven) need: Debian's
# Maven plugins, which also lay out a Maven repository tree under
# /usr/share/maven-repo that the tests use as their offline "central"
# (and serve as the mirror's upstream). mvn itself and a JDK come with the
# machine; the test POMs pin the plugin versions Debian ships.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

apt_install maven default-jdk-headless \
	libmaven-deploy-plugin-java libmaven-install-plugin-java \
	libmaven-resources-plugin-java libmaven-compiler-plugin-java \
	libmaven-jar-plugin-java libmaven-dependency-plugin-java \
	libsurefire-java libcommons-text-java python3

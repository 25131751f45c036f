# Loads the Vagrantfile with a recording stand-in for Vagrant's config object
# and prints each shell provisioner as JSON: [{"machine": ..., "script": ...}].
require "json"

class Recorder
  attr_reader :scripts

  def initialize(scripts = [], machine = nil)
    @scripts = scripts
    @machine = machine
  end

  def define(name, *_args, **_kw)
    yield Recorder.new(@scripts, name)
  end

  def provision(_name, **kw)
    @scripts << { "machine" => @machine, "script" => kw[:inline], "args" => kw[:args] }
  end

  def method_missing(_name, *_args, **_kw)
    yield Recorder.new(@scripts, @machine) if block_given?
    self
  end

  def respond_to_missing?(*) = true
end

module Vagrant
  def self.configure(_version)
    recorder = Recorder.new
    yield recorder
    puts JSON.generate(recorder.scripts)
  end
end

load ARGV.fetch(0)
